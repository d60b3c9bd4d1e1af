"""Packages that can also be called as their main function (``orbit360.stitch(...)``).

``orbit360.stitch`` and ``orbit360.salvage`` are subpackages, and the front door also
offers ``stitch(input, output)`` and ``salvage(path)`` under those names. A package
attribute cannot be both: importing a subpackage sets the parent's attribute to the
module. So the subpackage itself is made callable, forwarding to the function.
"""

from __future__ import annotations

import sys
from importlib import import_module
from types import ModuleType
from typing import Any

__all__ = ["make_package_callable"]


def make_package_callable(package: str, target: str) -> None:
    """Make the module ``package`` callable as ``target`` ("module.path:function").

    The target is imported at the first call, so the package may name a function of a
    package that imports it (``orbit360.stitch`` -> ``orbit360.pipeline.job:stitch``).
    """
    module_name, _, function_name = target.partition(":")

    class CallablePackage(ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return getattr(import_module(module_name), function_name)(*args, **kwargs)

    CallablePackage.__call__.__doc__ = f"Call ``{module_name}.{function_name}``."
    sys.modules[package].__class__ = CallablePackage
