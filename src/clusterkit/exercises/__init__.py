"""Exercise checks, one module per course module (e.g. `clusterkit.exercises.parallelism`).

Importing any of them in a Jupyter kernel also installs the hint for a check cell run before its
exercise cell (a NameError becomes "run the exercise cell above first") and the `%solution` magic.
"""
from clusterkit.exercises.checks import install_hints
from clusterkit.learner.solution_magic import install_solution_magic

install_hints()
install_solution_magic()
