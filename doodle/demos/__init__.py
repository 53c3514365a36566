"""``doodle demo``: the exemplar demo (exemplar) and the photo demo (photos)."""
