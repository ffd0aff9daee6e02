"""Reading a Rasa 3.x project: domain, config, NLU data, stories and rules.

Entry point: :meth:`palaver.data.project.Project.load`. This package
``__init__`` imports nothing, so ``palaver.core.domain`` can use the readers
without an import cycle.
"""
