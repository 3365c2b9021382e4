"""The version of glassnet, in a module of its own so that any module can read it without
importing the package (which would make an import circle)."""
__version__ = "0.1.0"
