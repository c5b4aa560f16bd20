"""Mutation self-check of the checklist suite: deliberate breakages of the reference implementation, each run
against the whole checklist, to show that the rows a QA engineer would expect to catch each one do catch it."""
