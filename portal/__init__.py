"""The partner-scoped health portal: a customised Django admin site."""
