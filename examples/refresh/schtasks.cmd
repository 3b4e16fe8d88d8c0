@rem oat refresh once a day on Windows, as SYSTEM, keeps an online activation
@rem in touch with the license portal (rule A5). Run once, as Administrator.
@rem The passphrase file should be readable by SYSTEM and Administrators only.
@rem A proxy (FAQ 2.2): add --proxy http://proxy.example.com:3128 to /tr.
schtasks /create /tn "oat refresh" /sc daily /st 03:00 /ru SYSTEM /rl HIGHEST /f /tr "\"C:\Program Files\oat\oat.exe\" refresh --store \"C:\ProgramData\oat\store\" --passphrase-file \"C:\ProgramData\oat\installation.passphrase\""
