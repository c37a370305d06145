"""The merchant's server-rendered onboarding and settings pages."""
