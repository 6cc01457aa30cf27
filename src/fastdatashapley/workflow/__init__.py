"""Workflow glue (layer 7): the config schema completed from the registries, start-up config checks, provenance
of the tables, and the rule scripts' logging."""
