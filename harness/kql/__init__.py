"""Everything that reads KQL text."""
