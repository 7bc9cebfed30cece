"""One module per outside system; each maps its library's errors into domain.errors."""
