"""conftest.py for a folder of downloaded notebooks run under nbval (see
tests/test_student_notebooks.py, which copies this file next to each notebook).

nbval sends each cell to the kernel with ``store_history=False``. IPython decides
whether a trailing semicolon hides a cell's value by reading the cell back from its
history, so without history ``ax.set(...);`` shows ``[Text(...), ...]`` where Jupyter
and the book show nothing. Cells are sent as Jupyter sends them, with history on.
"""

from nbval.kernel import RunningKernel


def _execute_cell_input(self, cell_input, allow_stdin=None):
    return self.kc.execute(cell_input, store_history=True, allow_stdin=allow_stdin,
                           stop_on_error=False)


RunningKernel.execute_cell_input = _execute_cell_input
