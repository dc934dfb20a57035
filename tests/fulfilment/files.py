"""Result files as partners write them."""

import csv
from pathlib import Path

HEADER = ["Mã đơn", "Số thuê bao", "Kết quả", "Ngày", "Lý do"]


def result_csv(tmp_path: Path, rows, header=HEADER, name="ket-qua.csv") -> Path:
    path = tmp_path / name
    with open(path, "w", newline="", encoding="utf-8-sig") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def result_xlsx(tmp_path: Path, rows, header=HEADER, name="ket-qua.xlsx") -> Path:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    path = tmp_path / name
    workbook.save(path)
    return path
