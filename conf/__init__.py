"""Hydra configuration files of the kanpde command line (installed as ``kanpde.conf``)."""
