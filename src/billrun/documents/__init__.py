"""Invoice documents for people: the invoice and its explanation as HTML (Jinja2, amounts formatted by Babel
for the seller's locale) and the invoice as PDF (WeasyPrint). This layer renders what it is given; the
billing layer gathers it (``billing.documents``, ``billing.explanation``)."""
