"""MLproject entry points: thin command lines over the library, one module per step."""
