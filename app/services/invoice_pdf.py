"""An invoice as a PDF, drawn with fpdf2 (pure Python: no system libraries to install).

The text is what the print view shows: seller, client, number, dates, the period,
the lines, the totals, notes and payment terms; a draft says DRAFT in its title so a
draft PDF can never pass for an issued invoice. DejaVu Sans (Debian's fonts-dejavu-core,
already there for Chromium) is used when present, for names beyond Latin-1; otherwise
the built-in Helvetica, with characters it cannot draw replaced.
"""
from __future__ import annotations

from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from app.currencies import format_money
from app.models import Invoice
from app.services.invoice_service import seller_of

FONT_FILES = (Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
              Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"))
LINE_HEIGHT = 6
COLUMNS = (100, 25, 30, 35)  # description, hours, rate, amount (mm; A4 leaves 190)


class _Document(FPDF):
    def __init__(self):
        super().__init__(format="A4")
        self.unicode = all(path.exists() for path in FONT_FILES)
        if self.unicode:
            self.add_font("DejaVu", "", str(FONT_FILES[0]))
            self.add_font("DejaVu", "B", str(FONT_FILES[1]))
        self.family = "DejaVu" if self.unicode else "Helvetica"
        self.set_auto_page_break(auto=True, margin=15)
        self.add_page()

    def text_for(self, value: str) -> str:
        return value if self.unicode else value.encode("latin-1", "replace").decode("latin-1")

    def font(self, size: int, bold: bool = False) -> None:
        self.set_font(self.family, "B" if bold else "", size)

    def paragraph(self, value: str, size: int = 10, bold: bool = False, width: float = 0) -> None:
        self.font(size, bold)
        self.multi_cell(width, LINE_HEIGHT, self.text_for(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def render(invoice: Invoice) -> bytes:
    seller = seller_of(invoice)
    pdf = _Document()
    pdf.set_title(f"{'DRAFT ' if invoice.status == 'draft' else ''}Invoice {invoice.number}")
    pdf.paragraph(("DRAFT invoice " if invoice.status == "draft" else "Invoice ") + invoice.number, size=18, bold=True)
    pdf.ln(2)
    if seller.name:
        pdf.paragraph(seller.name, bold=True)
    if seller.address:
        pdf.paragraph(seller.address)
    if seller.tax_id:
        pdf.paragraph(f"Tax ID: {seller.tax_id}")
    pdf.ln(4)
    pdf.paragraph("Bill to", size=9)
    pdf.paragraph(invoice.client.name, bold=True)
    if invoice.client.email:
        pdf.paragraph(invoice.client.email)
    pdf.ln(4)
    facts = [f"Issue date: {invoice.issue_date.isoformat()}"]
    if invoice.due_date:
        facts.append(f"Due date: {invoice.due_date.isoformat()}")
    if invoice.period_start and invoice.period_end:
        facts.append(f"Period: {invoice.period_start.isoformat()} to {invoice.period_end.isoformat()}")
    facts.append(f"Currency: {invoice.currency}")
    pdf.paragraph("\n".join(facts))
    pdf.ln(4)
    pdf.font(10)
    # fpdf2's table wraps long descriptions and breaks pages itself.
    with pdf.table(col_widths=COLUMNS, text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT"), first_row_as_headings=True,
                   borders_layout="HORIZONTAL_LINES", line_height=LINE_HEIGHT) as table:
        rows = [("Description", "Hours", "Rate", "Amount")]
        rows += [(line.description, str(line.hours), format_money(line.unit_price), format_money(line.amount))
                 for line in invoice.lines]
        rows += [("", "", "Subtotal", format_money(invoice.subtotal)),
                 ("", "", f"Tax ({invoice.tax_rate} %)", format_money(invoice.tax)),
                 ("", "", "Total", format_money(invoice.total, invoice.currency))]
        for cells in rows:
            row = table.row()
            for value in cells:
                row.cell(pdf.text_for(value))
    if invoice.notes:
        pdf.ln(4)
        pdf.paragraph(invoice.notes)
    if seller.payment_terms:
        pdf.ln(4)
        pdf.paragraph("Payment", size=9, bold=True)
        pdf.paragraph(seller.payment_terms)
    return bytes(pdf.output())
