"""A corpus of mails as real clients structure them, each with what must be faxed (see clients)."""
