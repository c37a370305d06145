from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Installed only so Django finds the `bench_*` management commands; the
    app has no models."""

    name = "commerce_sync.bench"
    label = "bench"
    verbose_name = "Commerce Sync benchmarks"
