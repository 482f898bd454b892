"""``python -m qserial``: the same command line as ``qserial``."""

from .cli import main

if __name__ == "__main__":
    main()
