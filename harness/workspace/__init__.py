"""The user's workspace: table schemas, custom tables, watchlists, stored functions and ASIM parsers."""
