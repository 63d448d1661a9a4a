"""`python -m recpim ...` (and `torchrun ... -m recpim supernet train ...`): the command line."""

from recpim.cli import main

if __name__ == "__main__":
    main()
