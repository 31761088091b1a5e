"""The credits API's routes, one Powertools ``Router`` per area, joined in ``functions/credits/app.py``
with ``include_router``. Routes are thin: validated models in, ``CreditsService`` call, models out."""
