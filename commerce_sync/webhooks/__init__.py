"""Partner webhooks: endpoints, events, signed deliveries and their log."""
