"""The checklist harness: settings, clients, targets and the pytest plugin that ties them to the features."""
