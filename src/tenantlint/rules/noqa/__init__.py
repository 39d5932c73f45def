"""Rules about the suppressions themselves: TL001."""
