"""Command-line interface: one thin module per command (parse flags, call the library, render, exit)."""
