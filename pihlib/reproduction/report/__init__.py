"""The code that reads the reproduction's records: summaries, tables, the paper's claims checked,
verdicts, the values the book's pages glue, and the figures. One module per experiment, beside its
compute module (``pihlib.reproduction.compute``); nothing here is part of any record's code digest,
so editing how a result is shown never makes it stale."""
