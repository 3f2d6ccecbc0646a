"""Problem definitions shipped with kanpde, one module per family (installed as ``kanpde.problems``)."""
