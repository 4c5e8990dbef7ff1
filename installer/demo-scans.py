#!/usr/bin/env python3
# Three paper applications as one-page PDFs, as a scanner would drop them into the
# scanning desk's hot folder (`make demo`, both variants). Usage: demo-scans.py DIR
import sys, pathlib
def pdf(lines):
    body = "BT /F1 13 Tf 72 770 Td 18 TL\n" + "".join(f"({l}) Tj T*\n" for l in lines) + "ET\n"
    objs = ["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
            f"<< /Length {len(body)} >>\nstream\n{body}endstream",
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"]
    out, offs = "%PDF-1.4\n", []
    for i, o in enumerate(objs):
        offs.append(len(out)); out += f"{i + 1} 0 obj\n{o}\nendobj\n"
    x = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n" + "".join(f"{o:010} 00000 n \n" for o in offs)
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{x}\n%%EOF\n"
    return out.encode("latin-1")
d = pathlib.Path(sys.argv[1])
for i, (kind, who) in enumerate([("Anmeldung eines Hundes zur Hundesteuer", "Klaus Brandt"),
                                 ("Antrag auf Bewohnerparkausweis", "Maria Jovanovic"),
                                 ("Gewerbeanmeldung (Papierformular)", "Olaf Petersen")]):
    (d / f"posteingang-{i + 1}.pdf").write_bytes(pdf([kind, f"Antragsteller: {who}", "Musterstadt, 01.12.2026"]))
