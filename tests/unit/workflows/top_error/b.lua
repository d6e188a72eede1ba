atrium.notify{ user_id = 1, kind = "at_load" }
