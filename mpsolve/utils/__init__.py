"""The bottom layer every other package may use: errors, random states, validation, quantities, files."""
