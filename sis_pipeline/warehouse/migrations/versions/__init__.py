"""The warehouse revisions, oldest first: 0001 is the schema as `create_all` made it before migrations."""
