"""The native API's OpenAPI document (schemas, paths, the document) and its docs page."""
