"""A report as a file: XLSX (openpyxl) and PDF (fpdf2), from report_service.table_rows, so the
page, the CSV, the spreadsheet and the PDF always hold the same numbers.

Decisions:
- XLSX keeps numbers as numbers (hours to two decimals) and every text cell as text:
  openpyxl would store a label starting with "=" as a formula, so each text cell is
  typed as a string explicitly (the CSV's leading-quote rule, the spreadsheet way).
- PDF through fpdf2 (pure Python, no system libraries). Its built-in fonts cover
  Latin-1 only, so a Unicode TrueType font is used when the system has DejaVu Sans
  (Debian's fonts-dejavu-core); without it, characters outside Latin-1 print as "?".
"""
from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from fpdf import FPDF
from openpyxl import Workbook
from openpyxl.styles import Font

from app.services.report_service import Report, table_rows

FONT_FILES = (Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
              Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"))
HOURS_FORMAT = "0.00"


def file_name(report: Report, extension: str) -> str:
    return f"timehub-{report.group}-{report.period.first.isoformat()}-{report.period.last.isoformat()}.{extension}"


def _text_cell(cell, value: str) -> None:
    cell.value = value
    cell.data_type = "s"  # never a formula, whatever the text starts with


def xlsx_bytes(report: Report, subtitle: str) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "Report"
    _text_cell(sheet.cell(row=1, column=1), f"{report.period.label} · {subtitle}")
    sheet.cell(row=1, column=1).font = Font(bold=True)
    lines = table_rows(report)
    for row_number, line in enumerate(lines, start=3):
        for column, value in enumerate(line, start=1):
            cell = sheet.cell(row=row_number, column=column)
            if isinstance(value, str):
                _text_cell(cell, value)
            else:
                cell.value = value
                cell.number_format = HOURS_FORMAT if isinstance(value, Decimal) else "0"
            if row_number == 3 or line is lines[-1]:
                cell.font = Font(bold=True)
    sheet.column_dimensions["A"].width = 40
    days = book.create_sheet("By day")
    days.append(["Day", "Billable hours", "Non-billable hours", "Total hours"])
    for day in report.days:
        days.append([day.key, day.billable_hours, day.other_hours, day.hours])
        for cell in days[days.max_row][1:]:
            cell.number_format = HOURS_FORMAT
        days.cell(row=days.max_row, column=1).number_format = "yyyy-mm-dd"
    days.column_dimensions["A"].width = 12
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


class _ReportPdf(FPDF):
    def __init__(self):
        super().__init__(orientation="landscape", format="A4")
        self.unicode = all(path.is_file() for path in FONT_FILES)
        if self.unicode:
            self.add_font("DejaVu", "", str(FONT_FILES[0]))
            self.add_font("DejaVu", "B", str(FONT_FILES[1]))
        self.family = "DejaVu" if self.unicode else "Helvetica"
        self.set_auto_page_break(auto=True, margin=15)

    def text(self, value: object) -> str:
        text = str(value)
        return text if self.unicode else text.encode("latin-1", "replace").decode("latin-1")

    def footer(self):
        self.set_y(-12)
        self.set_font(self.family, "", 8)
        self.cell(0, 8, self.text(f"TimeHub · page {self.page_no()}"), align="R")


def pdf_bytes(report: Report, subtitle: str, generated: datetime) -> bytes:
    pdf = _ReportPdf()
    pdf.add_page()
    pdf.set_font(pdf.family, "B", 16)
    pdf.cell(0, 10, pdf.text(f"Time report: {report.period.label}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.family, "", 10)
    pdf.cell(0, 6, pdf.text(f"{subtitle} · generated {generated:%Y-%m-%d %H:%M}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    lines = table_rows(report)
    numeric = len(lines[0]) - 1
    label_width = max(pdf.epw - numeric * 28, 60)
    # fpdf2's table wraps long headings and labels within their column.
    with pdf.table(col_widths=(label_width, *([28] * numeric)), width=label_width + 28 * numeric, align="LEFT",
                   text_align=("LEFT", *(["RIGHT"] * numeric)), line_height=6, first_row_as_headings=True,
                   borders_layout="HORIZONTAL_LINES") as table:
        for index, line in enumerate(lines):
            pdf.set_font(pdf.family, "B" if index == len(lines) - 1 else "", 9)
            row = table.row()
            for value in line:
                row.cell(pdf.text(value))
    if not report.rows:
        pdf.cell(0, 8, "No finished time in this period.", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
