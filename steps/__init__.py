"""Step definitions: thin glue between the Russian feature files and `harness.case.Case`."""
