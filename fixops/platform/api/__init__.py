"""API plumbing shared by every app's api/ package: the error body, pagination, the schema."""
