"""Pure business rules of ownership: no database, network or framework imports."""
