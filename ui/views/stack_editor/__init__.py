"""The parts of the stack editor (ui/views/stacks.py): editable tables, the tabs of the
form, the stacks list model and the conversion between a stack document and the widgets."""
