from django.apps import AppConfig


class SetupFlowConfig(AppConfig):
    name = "setup_flow"
    verbose_name = "Setup flow"
