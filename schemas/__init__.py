"""JSON Schemas (draft 2020-12), shipped inside the package as mockserver.schema_files."""
