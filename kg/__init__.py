"""Catalog format, dataset adapters, validation, graph stores and path queries."""
