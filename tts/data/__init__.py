"""Corpora as lhotse CutSets: importers, screening of bad items, caches, aligners and DataModules.

The embedded demo corpus (`tts data demo`) is built by ``tts.corpus``.
"""
