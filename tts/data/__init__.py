"""Corpora as lhotse CutSets: importers, screening of bad items, caches and DataModules."""
