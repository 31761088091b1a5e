"""Regional credits (issue 15): transfers of credit between home and the credits regions."""
