"""The ledger writer (issue 14 §3-4): the credits table's stream -> the append-only ledger table,
and the one owner of compensation for debits whose charge record went to another attempt."""
