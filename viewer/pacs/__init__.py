"""The PACS pane: query, retrieve and send to remote DICOM nodes from the viewer."""
