"""Entry point of ``python -m kanpde``."""

from kanpde.cli import main

if __name__ == "__main__":
    main()
