"""The OneRoster CSV binding of the simulated district: the records the REST simulator serves for the
same seed, written as a bulk or delta package, optionally with reported real-world dirt."""

from sis_simulators.oneroster_csv.dirt import FIX, REJECT_FILE, REJECT_ROW, Dirt, DirtReport
from sis_simulators.oneroster_csv.package import PackageInfo, export_csv_package

__all__ = ["FIX", "REJECT_FILE", "REJECT_ROW", "Dirt", "DirtReport", "PackageInfo", "export_csv_package"]
