"""Exchange with the RIS: signed reports out, orders in.

    document.py      ReportVersion: what a signed version carries to every channel; Signer
    hl7.py           HL7 v2.5.1 ORU^R01 builder
    mllp.py          MLLP client (TCP or TLS) with ACK handling
    fhir.py          FHIR R4 DiagnosticReport and Communication over httpx
    dicom_sr.py      DICOM Basic Text SR (pydicom) sent by C-STORE (pynetdicom)
    destinations.py  configured destinations: build a payload, deliver it
    outbox.py        the durable outbox: queue, delivery, retries, dead letters
    orders.py        inbound orders (ORM^O01 / OMI^O23) over MLLP onto the worklist
"""
