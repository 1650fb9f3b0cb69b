"""Where the data files are and how they are read: one reader per format, errors with file:line.

    resources.py    the templates/ and vocab/ folders (source checkout or installed wheel), user files
    files.py        TOML/YAML/text readers, unknown-key checks, DataFileError with the line
"""
