"""Name pools for synthetic people, chosen to exercise what real rosters contain.

Accents (José, Zoë, Nguyễn), apostrophes (O'Brien, D'Angelo), hyphens (Smith-Jones) and spaces
(De La Cruz) are deliberate: they are what breaks naive CSV writers, username builders and
collations. Each name is stored with an ASCII slug so usernames and emails stay plain, as an SIS
would issue them, without folding Unicode on the hot path.
"""

import unicodedata
from typing import NamedTuple

FEMALE_GIVEN_NAMES = (
    "Olivia", "Emma", "Charlotte", "Amelia", "Sophia", "Mia", "Isabella", "Ava", "Evelyn", "Luna",
    "Harper", "Camila", "Sofía", "Scarlett", "Elizabeth", "Eleanor", "Emily", "Chloé", "Mila",
    "Violet", "Penelope", "Gianna", "Aria", "Abigail", "Ella", "Avery", "Hazel", "Nora", "Layla",
    "Lily", "Zoë", "Renée", "Ximena", "María", "Guadalupe", "Valentina", "Aaliyah", "Imani",
    "Nia", "Keisha", "Mei", "Xiu", "Linh", "Thảo", "Priya", "Ananya", "Fatima", "Aisha", "Yasmin",
    "Noémie", "Siobhán", "Niamh", "Ingrid", "Astrid", "Björk", "Anna-Lena", "Mary-Kate", "D'Asia",
    "Jo'Nae", "Ta'Nia", "Keʻala", "Leilani", "Aiyana", "Kateri", "Hana", "Yuki", "Sakura", "Ji-woo",
    "Seo-yeon", "Olga", "Małgorzata", "Žofie",
)

MALE_GIVEN_NAMES = (
    "Liam", "Noah", "Oliver", "James", "Elijah", "William", "Henry", "Lucas", "Benjamin",
    "Theodore", "Mateo", "Levi", "Sebastian", "Daniel", "Jack", "Michael", "Alexander", "Owen",
    "Asher", "Samuel", "Ethan", "Leo", "José", "Jesús", "Ángel", "Andrés", "Joaquín", "Santiago",
    "Darnell", "DeShawn", "Jamal", "Malik", "Tyrone", "Wei", "Jun", "Minh", "Quốc", "Huy",
    "Arjun", "Rohan", "Mohammed", "Omar", "Yusuf", "Ibrahim", "François", "Jérôme", "Søren",
    "Bjørn", "Łukasz", "Jiří", "Seán", "Ciarán", "Pádraig", "D'Andre", "Ja'Marcus", "De'Von",
    "Jean-Luc", "Jean-Baptiste", "Kai", "Keoni", "Makoa", "Takoda", "Hiroshi", "Kenji", "Min-jun",
    "Ji-ho", "Dmitri", "Aleksandr",
)

NEUTRAL_GIVEN_NAMES = (
    "Alex", "Jordan", "Taylor", "Riley", "Casey", "Morgan", "Rowan", "Sage", "Quinn", "Skyler",
    "Emerson", "Reese", "Dakota", "Ari", "Noa", "Jules", "Andrea", "Sasha", "Robin", "Kendall",
)

FAMILY_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernández", "López", "González", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Pérez", "Thompson", "White", "Harris", "Sánchez",
    "Clark", "Ramírez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyễn", "Trần", "Lê", "Phạm", "Hill", "Flores", "Green", "Adams",
    "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "O'Brien",
    "O'Connor", "O'Neill", "O'Sullivan", "D'Angelo", "D'Souza", "DeLuca", "McDonald", "MacLeod",
    "Smith-Jones", "García-López", "Taylor-Wright", "Rivera-Ortiz", "Van der Berg", "De La Cruz",
    "St. John", "Müller", "Schröder", "Böhm", "Kowalski", "Wiśniewski", "Dvořák", "Novák",
    "Østergaard", "Björklund", "Kim", "Park", "Choi", "Wang", "Li", "Zhang", "Chen", "Patel",
    "Singh", "Sharma", "Khan", "Ali", "Haddad", "Yılmaz", "Öztürk", "Tanaka", "Suzuki", "Kahananui",
    "Begay", "Yazzie", "Okafor", "Adeyemi", "Mensah", "Ivanov", "Papadopoulos", "Çelik",
)


class PoolName(NamedTuple):
    display: str
    slug: str


def ascii_slug(name: str) -> str:
    """Lower-case ASCII letters only: 'Nguyễn' -> 'nguyen', "O'Brien" -> 'obrien'."""
    folded = unicodedata.normalize("NFKD", name.replace("ø", "o").replace("Ø", "O").replace("ł", "l").replace("Ł", "L"))
    return "".join(ch for ch in folded.lower() if "a" <= ch <= "z")


def _pool(names: tuple[str, ...]) -> tuple[PoolName, ...]:
    return tuple(PoolName(name, ascii_slug(name)) for name in names)


FEMALE = _pool(FEMALE_GIVEN_NAMES)
MALE = _pool(MALE_GIVEN_NAMES)
NEUTRAL = _pool(NEUTRAL_GIVEN_NAMES)
FAMILY = _pool(FAMILY_NAMES)
GIVEN_BY_SEX = {"female": FEMALE, "male": MALE, "unspecified": NEUTRAL + FEMALE + MALE, "other": NEUTRAL}


def pick(pool: tuple[PoolName, ...], entropy: int) -> PoolName:
    """Deterministic choice from a pool; `entropy` is any non-negative hash value."""
    return pool[entropy % len(pool)]

DISTRICT_NAMES = (
    "Maple Valley Unified School District", "Río Grande Consolidated Schools",
    "Lakeshore Public Schools", "Cedar Ridge Independent School District",
    "Bayview Unified School District", "Prairie Wind Community Schools",
)

SCHOOL_NAMESAKES = (
    "Lincoln", "Washington", "Roosevelt", "Jefferson", "Riverside", "Hillcrest", "Oakwood",
    "Cesar Chávez", "Rosa Parks", "Sojourner Truth", "Frederick Douglass", "Sequoyah",
    "Georgia O'Keeffe", "Sally Ride", "Dolores Huerta", "Thurgood Marshall", "Maya Angelou",
    "Sonia Sotomayor", "Daniel K. Inouye", "Wilma Mankiller", "Sandra Day O'Connor", "Ellen Ochoa",
    "Martin Luther King Jr.", "Pine Grove", "Willow Creek", "Eastside", "Westview", "Northgate",
    "Southwood", "Lakeview", "Meadowbrook", "Sunnyside", "Highland", "Fairview", "Brookside",
    "Mountain View", "Cottonwood", "Harbor", "Bluebonnet", "Aspen",
)
